"""Category classification of realistic complaint descriptions, and the category file."""
import pytest
import yaml

from nlu import categories
from nlu.categories import best_category, category_config, category_names, classify, department_for, is_local

DEPARTMENTS = {
    "muni.housing", "muni.transport", "muni.ecology", "muni.hrss", "muni.health", "muni.education", "muni.market",
    "muni.urban", "muni.water", "muni.police", "muni.civil", "muni.medsec", "muni.planning", "muni.culture",
    "muni.landscape", "muni.tax",
}

CASES = [
    # 噪音扰民
    ("楼上邻居天天半夜装修，电钻声吵得人睡不着", "噪音扰民"),
    ("小区广场舞音响开得特别大，晚上九点多还在跳", "噪音扰民"),
    ("旁边工地夜间施工，凌晨两点还在打桩，噪音太大了", "噪音扰民"),
    ("楼下KTV每天唱到后半夜，太吵了", "噪音扰民"),
    # 环境卫生 (incl. restaurant fumes)
    ("胡同里的垃圾三天没人清运了，臭味特别大", "环境卫生"),
    ("楼下烧烤店油烟直接往我家窗户里飘", "环境卫生"),
    ("小区门口的公厕脏得没法进，也没人打扫", "环境卫生"),
    ("楼道和电线杆上贴满了小广告", "环境卫生"),
    # 大气污染
    ("附近工地扬尘特别大，土方也没有苫盖", "大气污染"),
    ("村边有人焚烧垃圾，冒黑烟，气味刺鼻", "大气污染"),
    # 市政设施
    ("小区门口那条路的路灯坏了好几天了，晚上一片黑", "市政设施"),
    ("马路中间井盖丢了，特别危险", "市政设施"),
    ("人行道上的地砖破损了，老人差点摔倒", "市政设施"),
    # 房屋物业
    ("我们楼的电梯又坏了，物业一直不来修", "房屋物业"),
    ("顶楼下雨就漏水，找物业公司也不管", "房屋物业"),
    ("开发商延期交房快一年了", "房屋物业"),
    # 供暖
    ("家里暖气不热，室温才十五度", "供暖"),
    ("已经交了采暖费，到现在还没供暖", "供暖"),
    # 供水 / 供电 / 燃气
    ("我们小区突然停水了，也没有提前通知", "供水"),
    ("这几天家里电压不稳，老是跳闸", "供电"),
    ("自来水发黄，有一股铁锈味", "供水"),
    ("燃气卡充了钱插进表里没反应", "燃气"),
    # 河湖水务
    ("家门口的河道里有人偷排污水，水都变黑了", "河湖水务"),
    ("一下雨路口就积水，车都过不去", "排水防涝"),
    # 动物管理 / 扫雪铲冰 / 公共厕所 / 消费维权
    ("小区里流浪狗越来越多，晚上追着人叫", "动物管理"),
    ("楼门口的坡道结冰了，一直没人扫雪", "扫雪铲冰"),
    ("公园里的公厕一直锁着不开", "公共厕所"),
    ("健身房办的年卡，老板跑路了钱退不回来", "消费维权"),
    # 交通出行
    ("三百路公交车经常不按站停车", "交通出行"),
    ("路口的红绿灯坏了，车和人都乱走", "交通出行"),
    ("小区门口总有车违章停车，堵住了出口", "交通出行"),
    ("出租车司机拒载，还故意绕路", "交通出行"),
    # 劳动保障
    ("公司拖欠我三个月工资了，老板不接电话", "劳动保障"),
    ("单位不给交社保，还不签劳动合同", "劳动保障"),
    ("工地包工头欠薪，农民工讨薪无门", "劳动保障"),
    # 社会保障
    ("我想问一下社保怎么转移到北京", "社会保障"),
    ("我爸的养老金这个月没发下来", "养老金"),
    # 医疗保障
    ("异地就医的医保报销比例太低了", "医疗保障"),
    # 医疗卫生
    ("医院挂号太难了，号贩子倒号", "医疗卫生"),
    ("社区卫生服务中心的医生态度很差", "医疗卫生"),
    # 教育
    ("孩子上小学入学的事，学区房的学位不够", "教育"),
    ("校外培训机构收了学费不给上课", "教育"),
    # 市场监管
    ("健身房关门跑路了，预付卡里还有三千块钱", "消费维权"),
    ("超市卖过期食品，找商家退款不给退", "消费维权"),
    ("菜市场缺斤短两，电子秤有问题", "市场监管"),
    # 民政服务
    ("我妈申请低保一直没批下来", "民政服务"),
    ("社区养老驿站的老年餐太贵了", "民政服务"),
    # 园林绿化
    ("楼前的大树树枝挡住了窗户，需要修剪", "园林绿化"),
    ("小区绿地被人占了种菜", "园林绿化"),
    ("杨絮柳絮满天飞，孩子过敏", "园林绿化"),
    # 违法建设
    ("楼下一楼私搭乱建，在院子里盖了个彩钢房", "违法建设"),
    ("邻居在楼顶加盖了一层", "违法建设"),
    # 户籍证照
    ("孩子出生了想问问怎么上户口", "户籍证照"),
    ("办理居住证需要什么材料", "户籍证照"),
    # 社会治安
    ("小区里有人遛狗不拴绳，还咬了人", "动物管理"),
    ("接到电话被骗了两万块钱，是电信诈骗", "社会治安"),
    # 文化旅游
    ("跟团旅游被导游强制购物", "文化旅游"),
    # 税务
    ("饭店吃饭不给开发票", "税务"),
    ("个人所得税专项附加扣除怎么填", "税务"),
    # more everyday phrasings
    ("我家楼下有家麻辣烫，味儿特别大，窗户都不敢开", "环境卫生"),
    ("楼下商铺违规经营，占道摆摊", "占道经营"),
    ("暖气片摸着冰凉", "供暖"),
    ("房东不退押金", "房屋物业"),
    ("幼儿园老师打孩子", "教育"),
    ("网上买的手机是翻新机，商家不给换", "消费维权"),
    ("我在小区被狗咬了", "动物管理"),
    ("地铁里太挤了，能不能加车", "交通出行"),
    ("退休手续怎么办", "养老金"),
    ("驾照到期了怎么换", "户籍证照"),
    ("老年卡什么时候能办下来", "民政服务"),
    ("村里有人占用耕地盖房子", "违法建设"),
    ("家门口的河里死鱼很多，发臭", "河湖水务"),
]


@pytest.mark.parametrize("text,category", CASES)
def test_classify_realistic_descriptions(text, category):
    ranked = classify(text)
    assert ranked, text
    assert ranked[0][0] == category, ranked


def test_enough_cases_and_accuracy():
    assert len(CASES) >= 40
    hits = sum(1 for text, cat in CASES if classify(text)[0][0] == cat)
    assert hits == len(CASES)


def test_restaurant_fumes_label():
    label = classify("楼下烧烤店油烟太大了")[0][0]
    assert any(word in label for word in ("油烟", "餐饮", "环境", "大气"))


def test_confidence_is_ordered_and_bounded():
    ranked = classify("楼上装修太吵，垃圾也堆在楼道里")
    assert [c for c, _ in ranked][:2] and all(0 < s < 1 for _, s in ranked)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    strong = classify("公司拖欠工资，不签劳动合同，还不给加班费")[0][1]
    weak = classify("工资")[0][1]
    assert strong > weak


def test_nothing_matches():
    assert classify("你好") == []
    assert classify("") == []
    assert best_category("你好") == "其他"
    assert best_category("暖气不热") == "供暖"


def test_longest_keyword_wins_overlaps():
    assert classify("暖气漏水")[0][0] == "供暖"
    assert classify("单位不给交社保")[0][0] == "劳动保障"


def test_config_file():
    cats = category_config()
    names = category_names()
    assert len(cats) >= 14 and len(set(names)) == len(names)
    required = {"噪音扰民", "市政设施", "环境卫生", "劳动保障", "供暖", "交通出行", "房屋物业", "教育", "医疗卫生",
                "市场监管", "社会保障", "供水", "供电", "燃气", "园林绿化", "违法建设", "户籍证照", "其他"}
    assert required <= set(names)
    for cat in cats:
        assert cat.department is None or cat.department in DEPARTMENTS, cat
        assert cat.keywords or cat.fallback
    assert department_for("劳动保障") == "muni.hrss"
    assert department_for("不存在") is None
    assert all(is_local(c) for c in ("噪音扰民", "环境卫生", "市政设施", "房屋物业"))
    assert not is_local("劳动保障")


def test_categories_file_override(tmp_path, monkeypatch):
    path = tmp_path / "cats.yml"
    path.write_text(yaml.safe_dump({"categories": [
        {"name": "测试类", "department": "muni.urban", "local": True, "keywords": ["井盖", {"窨井": 3}]},
        {"name": "其他", "department": None, "fallback": True, "keywords": []},
    ]}, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("SEAT_CATEGORIES_FILE", str(path))
    assert category_names() == ["测试类", "其他"]
    assert classify("井盖丢了")[0][0] == "测试类"
    assert categories.fallback_category() == "其他"
    assert department_for("测试类") == "muni.urban"
